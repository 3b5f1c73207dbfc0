// The README's stompjs example. Run it against a server with:
//   PARLEY_URL=ws://127.0.0.1:8080/ws TOKEN=<access token> ROOM=general node README-example.mjs
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const { PARLEY_URL = 'ws://127.0.0.1:8080/ws', TOKEN, ROOM = 'general' } = process.env;

const client = new Client({
  webSocketFactory: () => new WebSocket(PARLEY_URL, ['v12.stomp']),
  connectHeaders: { Authorization: `Bearer ${TOKEN}` },
  onConnect: () => {
    client.subscribe(`/topic/rooms/${ROOM}`, (frame) => {
      const message = JSON.parse(frame.body);
      console.log(`#${message.seq} ${message.sender}: ${message.body}`);
      client.deactivate();
    });
    client.publish({ destination: `/topic/rooms/${ROOM}`, body: 'hello from stompjs' });
  },
  onStompError: (frame) => {
    console.error(`error: ${frame.headers.message}`);
    process.exit(1);
  },
});
client.activate();
