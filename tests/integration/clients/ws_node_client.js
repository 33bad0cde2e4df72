// A second real WebSocket client (node's ws, Debian node-ws): echo of text and binary, a
// ping, and a clean close; with "compressed", alike messages over permessage-deflate.
// usage: NODE_PATH=/usr/share/nodejs node ws_node_client.js URL [compressed]
const WebSocket = require('ws');
const compressed = process.argv[3] === 'compressed';
// threshold 0: the client compresses every message, as the server does past compress_min.
const ws = new WebSocket(process.argv[2], compressed ? { perMessageDeflate: { threshold: 0 } } : {});
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
  seen.push(isBinary ? 'binary ' + Buffer.from(data).toString('hex') : 'text ' + data.toString());
  if (seen.length === 2) { seen.forEach((s) => console.log(s)); ws.close(4001, 'done'); }
});
ws.on('close', (code, reason) => {
  console.log('closed ' + code + ' ' + reason.toString());
  clearTimeout(timer);
});
ws.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
