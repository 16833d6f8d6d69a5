// The Athena named queries' texts, for serverless.yml: `${file(infra/saved_queries.js):status}`.
// One SQL source per query: parking.analytics.saved turns queries/<name>.sql into
// the text saved in the workgroup, runnable as saved for a documented default window.
// Each query's description is the registry's too (parking/analytics/registry.py):
// savedQueries.descriptions(), or `${file(infra/query_descriptions.js):status}`.
// Python is the project's venv, or PARKING_PYTHON.
const { execFileSync } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '..');
const cached = {};

function fromPython(...args) {
  const key = args.join(' ');
  if (cached[key] === undefined) {
    const python = process.env.PARKING_PYTHON || path.join(root, '.venv', 'bin', 'python');
    const output = execFileSync(python, ['-m', 'parking.analytics.saved', ...args], { cwd: root, encoding: 'utf8' });
    cached[key] = JSON.parse(output);
  }
  return cached[key];
}

function savedQueries() {
  return fromPython();
}

savedQueries.descriptions = () => fromPython('descriptions');

module.exports = savedQueries;
