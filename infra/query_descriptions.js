// Each named query's description, for serverless.yml: `${file(infra/query_descriptions.js):overstays}`.
// The registry's (parking/analytics/registry.py), as infra/saved_queries.js reads it.
const savedQueries = require('./saved_queries.js');

module.exports = () => savedQueries.descriptions();
