// A second real WebSocket client (node's ws, Debian node-ws): echo of text, binary and a
// 200 KB message, a ping, and a clean close; with "compressed", alike messages over
// permessage-deflate. With a wss:// URL, --ca FILE is the CA the server is verified against.
// usage: NODE_PATH=/usr/share/nodejs node ws_node_client.js URL [compressed] [--ca FILE]
const fs = require('fs');
const WebSocket = require('ws');
const compressed = process.argv.includes('compressed');
const caAt = process.argv.indexOf('--ca');
const options = caAt > 0 ? { ca: fs.readFileSync(process.argv[caAt + 1]) } : {};
// threshold 0: the client compresses every message, as the server does past compress_min.
if (compressed) options.perMessageDeflate = { threshold: 0 };
const ws = new WebSocket(process.argv[2], options);
const timer = setTimeout(() => { console.log('timeout'); process.exit(2); }, 10000);
const seen = [];
const line = (i) => ('chat line ' + i + ' for everyone in the room; ').repeat(40);
ws.on('upgrade', (res) => {
  if (compressed) console.log('extensions ' + res.headers['sec-websocket-extensions']);
});
ws.on('open', () => {
  if (compressed) {
    for (let i = 0; i < 5; i++) ws.send(line(i));
    return;
  }
  ws.send('from node');
  ws.send(Buffer.from([1, 2, 3, 250]));
  ws.send('y'.repeat(200000));
  ws.ping('np');
});
ws.on('pong', (data) => console.log('pong ' + data.toString()));
ws.on('message', (data, isBinary) => {
  if (compressed) {
    seen.push(data.toString() === line(seen.length));
    if (seen.length === 5) {
      console.log('roundtrip ' + seen.every((ok) => ok));
      ws.close(4001, 'done');
    }
    return;
  }
  if (isBinary) seen.push('binary ' + Buffer.from(data).toString('hex'));
  else if (data.length > 1000) seen.push('big ' + data.length + ' ' + (data.toString() === 'y'.repeat(200000)));
  else seen.push('text ' + data.toString());
  if (seen.length === 3) { seen.forEach((s) => console.log(s)); ws.close(4001, 'done'); }
});
ws.on('close', (code, reason) => {
  console.log('closed ' + code + ' ' + reason.toString());
  clearTimeout(timer);
});
ws.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
