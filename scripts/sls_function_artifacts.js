'use strict';

// A local Serverless plugin: a second deploy of an unchanged service must be skipped.
// osls decides that by comparing the last deployment's objects with the service-level
// package.artifact and the zips in .serverless/ only, so a function with an artifact of
// its own (functions.compact: build/compact.zip) would make every deploy upload again.
// Just before that comparison, each function-level artifact is copied into .serverless/,
// so it is compared too. Nothing else changes: uploads still read the configured paths.
const fs = require('fs');
const path = require('path');

class FunctionArtifactsCompared {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:aws:deploy:deploy:checkForChanges': () => this.copyFunctionArtifacts() };
  }

  copyFunctionArtifacts() {
    const { service, serviceDir } = this.serverless;
    const folder = path.join(serviceDir, '.serverless');
    for (const name of service.getAllFunctions()) {
      const artifact = (service.getFunction(name).package || {}).artifact;
      if (!artifact) continue;
      fs.mkdirSync(folder, { recursive: true });
      fs.copyFileSync(path.resolve(serviceDir, artifact), path.join(folder, `${name}-function-artifact.zip`));
    }
  }
}

module.exports = FunctionArtifactsCompared;
