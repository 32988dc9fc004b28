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
 *   MLOPS_DEMO_APPROVER_PASSWORD  the demo's logins (npm start makes a password per run and prints it):
 *                         user `approver` may do everything, approvals included; with
 *   MLOPS_DEMO_OPERATOR_PASSWORD  also user `operator`, who may only look (permission 'read').
 *                         Unset (a gateway): no logins from here; set adminAuth below with your users.
 */
'use strict';
const crypto = require('crypto');

process.env.MLOPS_OPCUA_ENDPOINT = process.env.MLOPS_OPCUA_ENDPOINT || 'opc.tcp://127.0.0.1:4840/UA/MachineSimulator';

/** Equal texts, compared in constant time (sha256 of both, so their lengths tell nothing either). */
function sameText(a, b) {
  const h = (s) => crypto.createHash('sha256').update(String(s), 'utf8').digest();
  return crypto.timingSafeEqual(h(a), h(b));
}

/**
 * The demo's adminAuth: `approver` ('*', approves models) and, with its password set, `operator`
 * ('read': sees the flow and the pending approvals, decides nothing). Passwords come from the
 * environment, plain: a demo on 127.0.0.1 whose passwords live as long as its run.
 */
function demoAdminAuth() {
  const users = [{ username: 'approver', password: process.env.MLOPS_DEMO_APPROVER_PASSWORD, permissions: '*' }];
  if (process.env.MLOPS_DEMO_OPERATOR_PASSWORD) users.push({ username: 'operator', password: process.env.MLOPS_DEMO_OPERATOR_PASSWORD, permissions: 'read' });
  const user = (u) => ({ username: u.username, permissions: u.permissions });
  return {
    type: 'credentials',
    users: (username) => Promise.resolve(users.filter((u) => u.username === username).map(user)[0] || null),
    authenticate: (username, password) => {
      // every user's password is compared, so the time taken does not tell which user names exist
      let found = null;
      for (const u of users) if (sameText(password, u.password) && u.username === username) found = user(u);
      return Promise.resolve(found);
    },
  };
}

module.exports = {
  uiHost: process.env.MLOPS_HOST || '127.0.0.1',
  uiPort: Number(process.env.MLOPS_DEMO_PORT || 1880),
  flowFile: 'flows.json',
  flowFilePretty: true,
  credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET || false,
  // On a gateway, logins with bcrypt hashes (node-red admin hash-pw); permission mlops-approval.write
  // decides approvals, mlops-approval.read sees them ('read' and '*' include them):
  // adminAuth: { type: 'credentials', users: [{ username: 'admin', password: '<bcrypt hash>', permissions: '*' }] },
  ...(process.env.MLOPS_DEMO_APPROVER_PASSWORD ? { adminAuth: demoAdminAuth() } : {}),
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
