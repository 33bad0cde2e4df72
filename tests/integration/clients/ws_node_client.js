// A second real WebSocket client (node's ws, Debian node-ws): echo of text and binary, a
// ping, and a clean close. usage: NODE_PATH=/usr/share/nodejs node ws_node_client.js URL
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[2]);
const timer = setTimeout(() => { console.log('timeout'); process.exit(2); }, 10000);
const seen = [];
ws.on('open', () => {
  ws.send('from node');
  ws.send(Buffer.from([1, 2, 3, 250]));
  ws.ping('np');
});
ws.on('pong', (data) => console.log('pong ' + data.toString()));
ws.on('message', (data, isBinary) => {
  seen.push(isBinary ? 'binary ' + Buffer.from(data).toString('hex') : 'text ' + data.toString());
  if (seen.length === 2) { seen.forEach((s) => console.log(s)); ws.close(4001, 'done'); }
});
ws.on('close', (code, reason) => {
  console.log('closed ' + code + ' ' + reason.toString());
  clearTimeout(timer);
});
ws.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
