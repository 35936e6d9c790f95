import mqtt from 'mqtt';
const url = 'mqtt://127.0.0.1:18830';
const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
const acked = [];
for (let i = 0; i < 300; i++) {
  const qos = i % 2 === 0 ? 1 : 2;
  await pub.publishAsync(`d/${qos}`, `p${i}`, { qos });
  acked.push(i);
}
console.log('acked', acked.length);
await pub.endAsync();
