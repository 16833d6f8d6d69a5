'use strict';

// Works around serverless/serverless#13770 (fixed upstream by #13771, not in
// osls): `sls deploy` skips an unchanged deployment by comparing hashes of the
// template and the artifacts with the last deployment's, but it hashes only the
// service-level artifact (build/ingest.zip). The zones function's own
// package.artifact (build/zones.zip) was left out, so every deploy redeployed.
// The check also hashes every zip in .serverless/, so a copy of each
// function-level artifact is put there just before it; uploads still read the
// artifact where it is.
const fs = require('fs');
const path = require('path');

class FunctionArtifactHashes {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:aws:deploy:deploy:checkForChanges': () => this.copyFunctionArtifacts() };
  }

  copyFunctionArtifacts() {
    const service = this.serverless.service;
    const serverlessDir = path.join(this.serverless.serviceDir, '.serverless');
    const copied = new Set();
    for (const name of service.getAllFunctions()) {
      const artifact = (service.getFunction(name).package || {}).artifact;
      // One copy per artifact: the live and feeds functions share build/live.zip, uploaded once.
      if (!artifact || artifact === service.package.artifact || copied.has(artifact)) continue;
      copied.add(artifact);
      fs.mkdirSync(serverlessDir, { recursive: true });
      fs.copyFileSync(path.resolve(this.serverless.serviceDir, artifact), path.join(serverlessDir, `function-${name}.zip`));
    }
  }
}

module.exports = FunctionArtifactHashes;
