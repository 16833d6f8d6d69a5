// The Athena named queries' texts, for serverless.yml: `${file(infra/saved_queries.js):status}`.
// One SQL source per query: parking.analytics.saved turns queries/<name>.sql into
// the text saved in the workgroup, runnable as saved for a documented default window.
// Python is the project's venv, or PARKING_PYTHON.
const { execFileSync } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '..');
let texts;

function savedQueries() {
  if (texts === undefined) {
    const python = process.env.PARKING_PYTHON || path.join(root, '.venv', 'bin', 'python');
    const output = execFileSync(python, ['-m', 'parking.analytics.saved'], { cwd: root, encoding: 'utf8' });
    texts = JSON.parse(output);
  }
  return texts;
}

module.exports = savedQueries;
