/**
 * Config node: one OPC UA endpoint, one shared session, reference-counted by its users.
 */
import * as os from 'os';
import * as path from 'path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { OpcuaConnection, type EndpointConfigNode, type SecurityModeName, type SecurityPolicyName } from './lib/opcua/connection';
import { browseChildren, OBJECTS_FOLDER } from './lib/opcua/browse';

interface EndpointDef extends NodeDef {
  endpoint: string;
  securityMode: SecurityModeName;
  securityPolicy: SecurityPolicyName;
  authType: 'anonymous' | 'username';
  trustOnFirstUse: boolean;
  pkiFolder?: string;
}

interface EndpointCredentials {
  user?: string;
  password?: string;
}

type EndpointNode = Node<EndpointCredentials> & EndpointConfigNode;

export = function (RED: NodeAPI) {
  function MlopsOpcuaEndpoint(this: EndpointNode, config: EndpointDef) {
    RED.nodes.createNode(this, config);
    const userDir = (RED.settings as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
    const useCredentials = config.authType === 'username';
    try {
      this.connection = new OpcuaConnection({
        endpointUrl: (config.endpoint ?? '').trim(),
        securityMode: config.securityMode ?? 'None',
        securityPolicy: config.securityPolicy ?? 'Basic256Sha256',
        username: useCredentials ? this.credentials?.user ?? '' : undefined,
        password: useCredentials ? this.credentials?.password ?? '' : undefined,
        pkiFolder: config.pkiFolder?.trim() || path.join(userDir, 'mlops-opcua-pki'),
        trustOnFirstUse: !!config.trustOnFirstUse,
      });
      if (useCredentials && !this.credentials?.user) throw new Error(RED._('mlops-opcua-endpoint.errors.noUser'));
      this.connection.on('state', (info) => {
        if (info.state === 'untrusted' || info.state === 'denied') this.warn(`${config.endpoint}: ${info.detail ?? info.state}`);
      });
    } catch (e) {
      this.connection = undefined;
      this.configError = (e as Error).message;
      this.error(this.configError);
    }

    this.on('close', (_removed: boolean, done: () => void) => {
      const c = this.connection;
      if (!c) return done();
      c.close().then(done, done);
    });
  }

  RED.nodes.registerType('mlops-opcua-endpoint', MlopsOpcuaEndpoint as never, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });

  // The editor's address-space browser: children of a node of a deployed endpoint.
  RED.httpAdmin.get('/mlops-opcua-endpoint/:id/browse', RED.auth.needsPermission('mlops-opcua-endpoint.read'), (req, res) => {
    const node = RED.nodes.getNode(String(req.params.id)) as unknown as EndpointConfigNode | null;
    if (!node) {
      res.status(404).json({ error: RED._('mlops-opcua-endpoint.errors.notDeployed') });
      return;
    }
    if (!node.connection) {
      res.status(400).json({ error: node.configError ?? 'invalid endpoint' });
      return;
    }
    const nodeId = typeof req.query.nodeId === 'string' && req.query.nodeId ? req.query.nodeId : OBJECTS_FOLDER;
    node.connection.withSession((session) => browseChildren(session, nodeId)).then(
      (items) => res.json(items),
      (err: Error) => res.status(502).json({ error: err.message }),
    );
  });
};
