'use strict';

// osls gives the HTTP API's routes a DependsOn on their integration and the stage
// one on its access log group, though each already references it (Ref, GetAtt):
// cfn-lint warns (W3005) and moto's CloudFormation treats the warning as an error.
// Before the template is written, this drops from DependsOn every resource the
// resource already references in its properties.
class NoRedundantDependsOn {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:finalize': () => this.prune() };
  }

  prune() {
    const resources = this.serverless.service.provider.compiledCloudFormationTemplate.Resources;
    for (const resource of Object.values(resources)) {
      if (!resource.DependsOn) continue;
      const referenced = new Set();
      collect(resource.Properties, referenced);
      const kept = [].concat(resource.DependsOn).filter((name) => !referenced.has(name));
      if (kept.length) resource.DependsOn = kept;
      else delete resource.DependsOn;
    }
  }
}

function collect(value, referenced) {
  if (Array.isArray(value)) {
    value.forEach((item) => collect(item, referenced));
  } else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref' && typeof inner === 'string') referenced.add(inner);
      else if (key === 'Fn::GetAtt') referenced.add(Array.isArray(inner) ? inner[0] : String(inner).split('.')[0]);
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(inner) ? inner[0] : inner;
        for (const match of String(text).matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) referenced.add(match[1]);
        if (Array.isArray(inner)) collect(inner[1], referenced);
      } else collect(inner, referenced);
    }
  }
}

module.exports = NoRedundantDependsOn;
