// The WebSocket echo reference: node's ws (Debian node-ws) echoing every message.
// usage: NODE_PATH=/usr/share/nodejs node ws_echo_node.js PORT
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]) });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
wss.on('listening', () => console.log('node-ws listening on ' + process.argv[2]));
