/**
 * Config node: one OPC UA endpoint, one shared session, reference-counted by its users; and
 * the editor's admin routes (address-space browser, PKI panel, Trust, Test connection).
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { texts } from './lib/node-red/i18n';
import { resolveUserPath } from './lib/node-red/paths';
import { OpcuaConnection, type EndpointConfigNode, type StateInfo } from './lib/opcua/connection';
import { browseChildren, OBJECTS_FOLDER } from './lib/opcua/browse';
import { DEFAULT_PKI_FOLDER, endpointOptions, errorBody, pkiReply, testReply, trustReply, type EndpointCredentials, type EndpointSettings, type Reply } from './lib/opcua/admin';

type EndpointDef = NodeDef & EndpointSettings;

type EndpointNode = Node<EndpointCredentials> & EndpointConfigNode & { pkiFolder: string; browsing?: number };

/** Browses one endpoint serves at a time; more are refused (429) rather than queued on its session. */
const MAX_CONCURRENT_BROWSES = 4;

/** What the editor shows in a password field that holds a stored password. */
const STORED_PASSWORD = '__PWRD__';

export = function (RED: NodeAPI) {
  const tx = texts(RED, 'mlops-opcua-endpoint');
  const text = tx.errorText; // every problem of a CodedErrors, each translated
  const pkiFolderOf = (def: EndpointSettings) => resolveUserPath(RED, def.pkiFolder?.trim() || DEFAULT_PKI_FOLDER);

  function MlopsOpcuaEndpoint(this: EndpointNode, config: EndpointDef) {
    RED.nodes.createNode(this, config);
    this.pkiFolder = pkiFolderOf(config);
    this.describe = (info: StateInfo) => (info.reason ? text(info.reason) : info.detail ?? '');
    try {
      this.connection = new OpcuaConnection(endpointOptions(config, this.credentials, this.pkiFolder));
      this.connection.on('state', (info: StateInfo) => {
        if (info.state === 'untrusted' || info.state === 'refused' || info.state === 'denied') this.warn(`${config.endpoint}: ${this.describe!(info)}`);
      });
    } catch (e) {
      this.connection = undefined;
      this.configError = text(e);
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

  // Admin routes: reading needs mlops-opcua-endpoint.read, acting mlops-opcua-endpoint.write.
  const read = RED.auth.needsPermission('mlops-opcua-endpoint.read');
  const write = RED.auth.needsPermission('mlops-opcua-endpoint.write');
  const deployed = (req: Request) => RED.nodes.getNode(String(req.params.id)) as unknown as EndpointNode | null;
  // The PKI folder is the deployed endpoint's, or the default one for an endpoint not deployed
  // yet; never a path from the request.
  const pkiOf = (req: Request) => deployed(req)?.pkiFolder ?? pkiFolderOf({});
  const send = (res: Response, reply: Promise<Reply> | Reply) =>
    Promise.resolve(reply).then(
      (r) => res.status(r.status).json(r.body),
      (e) => res.status(500).json(errorBody(e, text)),
    );

  // The editor's address-space browser: children of a node of a deployed endpoint. Browsing makes
  // Node-RED connect to the server, so it needs the write permission (it helps someone editing
  // flows), and an endpoint serves a few browses at a time.
  RED.httpAdmin.get('/mlops-opcua-endpoint/:id/browse', write, (req, res) => {
    const node = deployed(req);
    if (!node) {
      res.status(404).json({ error: tx.t('errors.notDeployed'), code: 'notDeployed', params: {} });
      return;
    }
    if (!node.connection) {
      res.status(400).json({ error: node.configError ?? '' });
      return;
    }
    if ((node.browsing ?? 0) >= MAX_CONCURRENT_BROWSES) {
      const params = { max: MAX_CONCURRENT_BROWSES };
      res.status(429).json({ error: tx.t('errors.browseBusy', params), code: 'browseBusy', params });
      return;
    }
    node.browsing = (node.browsing ?? 0) + 1;
    const nodeId = typeof req.query.nodeId === 'string' && req.query.nodeId ? req.query.nodeId : OBJECTS_FOLDER;
    node.connection
      .withSession((session) => browseChildren(session, nodeId))
      .then(
        (items) => res.json(items),
        (err: unknown) => res.status(502).json(errorBody(err, text)),
      )
      .finally(() => {
        node.browsing = (node.browsing ?? 1) - 1;
      });
  });

  RED.httpAdmin.get('/mlops-opcua-endpoint/:id/pki', read, (req, res) => void send(res, pkiReply(pkiOf(req), text)));

  RED.httpAdmin.post('/mlops-opcua-endpoint/:id/trust', write, (req, res) => {
    const node = deployed(req);
    void send(res, trustReply(pkiOf(req), (req.body as { fingerprint?: unknown } | undefined)?.fingerprint, text, () => node?.connection?.retryNow()));
  });

  // Test connection with the dialog's current settings (a stored password stays on the server).
  RED.httpAdmin.post('/mlops-opcua-endpoint/:id/test', write, (req, res) => {
    const node = deployed(req);
    const body = (req.body ?? {}) as EndpointSettings & EndpointCredentials;
    const options = () => {
      const endpoint = /\$\{/.test(body.endpoint ?? '') ? String(RED.util.evaluateNodeProperty(String(body.endpoint), 'env', node as never, {} as never) ?? '') : body.endpoint;
      const password = body.password === STORED_PASSWORD ? node?.credentials?.password : body.password;
      return endpointOptions({ ...body, endpoint }, { user: body.user ?? node?.credentials?.user, password }, pkiOf(req));
    };
    void send(res, testReply(options, text));
  });
};
