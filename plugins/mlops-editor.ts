/**
 * The editor plugin every dialog of this package uses (plugins/mlops-editor.html): validators that
 * return their message, the values the open dialog holds, escaping. Node-RED loads plugins before
 * nodes, in the editor as in the runtime; the runtime side has nothing to do but register it.
 */
interface PluginAPI {
  plugins: { registerPlugin(id: string, definition: { type: string }): void };
}

export = function (RED: PluginAPI) {
  RED.plugins.registerPlugin('mlops-editor', { type: 'mlops-editor' });
};
