/**
 * The approvals sidebar (plugins/mlops-approval.html): pending requests of every approval gate,
 * with Approve / Reject for users allowed to decide. The routes it reads and posts to, and the
 * change notices it listens for, are the approval gate's (nodes/lib/approval/admin.ts); the
 * runtime side has nothing to do but register the plugin.
 */
interface PluginAPI {
  plugins: { registerPlugin(id: string, definition: { type: string }): void };
}

export = function (RED: PluginAPI) {
  RED.plugins.registerPlugin('mlops-approval', { type: 'mlops-approval' });
};
