/**
 * Node-RED settings for the predictive-maintenance project, headless on a gateway.
 *
 *   node-red --settings flows/predictive-maintenance/settings.js --userDir /var/lib/mlops-pm
 *
 * Environment:
 *   MLOPS_OPCUA_ENDPOINT  the machine's OPC UA endpoint (default: the simulator on 127.0.0.1:4840)
 *   MLOPS_DEMO_PORT       editor/admin port (default 1880)
 *   MLOPS_MODEL_PUBLIC_KEY  the cosign public key (PEM) models must be signed with (npm start makes one
 *                         per run; unset: the registry node checks no signatures and says so)
 *   MLOPS_HOST            address the editor listens on (default 127.0.0.1: reach it via an SSH tunnel,
 *                         or set adminAuth below before opening it to the network)
 *   NODE_RED_CREDENTIAL_SECRET  key that encrypts flows_cred.json (set it on a real gateway)
 */
'use strict';
process.env.MLOPS_OPCUA_ENDPOINT = process.env.MLOPS_OPCUA_ENDPOINT || 'opc.tcp://127.0.0.1:4840/UA/MachineSimulator';

module.exports = {
  uiHost: process.env.MLOPS_HOST || '127.0.0.1',
  uiPort: Number(process.env.MLOPS_DEMO_PORT || 1880),
  flowFile: 'flows.json',
  flowFilePretty: true,
  credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET || false,
  // adminAuth: { type: 'credentials', users: [{ username: 'admin', password: '<bcrypt hash>', permissions: '*' }] },
  diagnostics: { enabled: false },
  runtimeState: { enabled: false },
  telemetry: { enabled: false },
  externalModules: { autoInstall: false, palette: { allowInstall: true } },
  logging: { console: { level: 'info', metrics: false, audit: false } },
  editorTheme: {
    projects: { enabled: false },
    tours: false,
    palette: { categories: ['MLOps', 'common', 'function', 'network'] },
  },
  functionExternalModules: false,
  // The demo links models/ in the user directory to this folder: the onnx dialog may inspect the models there.
  mlopsModelDirs: ['models'],
};
