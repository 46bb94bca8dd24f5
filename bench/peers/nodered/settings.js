// Node-RED settings for the ingest benchmark's peer: headless, loopback only, the
// flow file beside this one, state in a throwaway userDir (GP_NODERED_USERDIR).
const path = require("path");

module.exports = {
  userDir: process.env.GP_NODERED_USERDIR,
  flowFile: path.join(__dirname, "flows.json"),
  flowFilePretty: true,
  credentialSecret: false,
  uiHost: "127.0.0.1",
  uiPort: Number(process.env.GP_NODERED_UI_PORT || 0),
  httpAdminRoot: false, // no editor, no admin API: the flow is fixed
  httpNodeRoot: false,
  // the function node gets the npm pg package through the global context
  functionGlobalContext: { pg: require("pg") },
  functionExternalModules: false,
  logging: { console: { level: "info", metrics: false, audit: false } },
  exportGlobalContextKeys: false,
};
