// A Sparkplug B edge node with one device, driven by Eclipse Tahu's JavaScript client.
//
// Usage: node edge_node.js <serverUrl> <groupId> <edgeNode> <deviceId>
// Reads one JSON command per line on stdin and answers one JSON line per command on
// stdout; an NCMD "Node Control/Rebirth" is answered by new births (as Tahu's examples do).
"use strict";

const readline = require("readline");
const sparkplug = require("sparkplug-client");

const [serverUrl, groupId, edgeNode, deviceId] = process.argv.slice(2);
const state = { ts: Date.now(), gas: 0, energy: 0, power: 0 };

const client = sparkplug.newClient({
  serverUrl,
  groupId,
  edgeNode,
  clientId: `tahu-js-${edgeNode}-${process.pid}`,
  username: "",
  password: "",
  publishDeath: true,
  version: "spBv1.0",
});

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function births() {
  client.publishNodeBirth({
    timestamp: state.ts,
    metrics: [
      { name: "Node Control/Rebirth", type: "Boolean", value: false },
      { name: "Feeder/Gas", alias: 1, type: "Double", value: state.gas },
      { name: "Diagnostics/Uptime", alias: 2, type: "Int64", value: 42 },
    ],
  });
  client.publishDeviceBirth(deviceId, {
    timestamp: state.ts,
    metrics: [
      { name: "Energy/Import", alias: 10, type: "Double", value: state.energy },
      { name: "Power/PV5", alias: 11, type: "Int32", value: state.power },
      { name: "Status/Text", alias: 12, type: "String", value: "running" },
    ],
  });
}

client.on("birth", () => {
  say({ event: "connected" });
});

client.on("ncmd", (payload) => {
  const rebirth = (payload.metrics || []).some(
    (m) => m.name === "Node Control/Rebirth" && m.value === true,
  );
  if (rebirth) {
    births();
    say({ event: "rebirth" });
  }
});

const ops = {
  births: () => births(),
  ddata: (cmd) => {
    Object.assign(state, { ts: cmd.ts, energy: cmd.energy, power: cmd.power });
    client.publishDeviceData(deviceId, {
      timestamp: cmd.ts,
      metrics: [
        { alias: 10, type: "Double", value: cmd.energy },
        { alias: 11, type: "Int32", value: cmd.power },
      ],
    });
  },
  ndata: (cmd) => {
    Object.assign(state, { ts: cmd.ts, gas: cmd.gas });
    client.publishNodeData({
      timestamp: cmd.ts,
      metrics: [{ alias: 1, type: "Double", value: cmd.gas }],
    });
  },
  history: (cmd) => {
    client.publishDeviceData(deviceId, {
      timestamp: cmd.ts,
      metrics: [
        { alias: 10, type: "Double", value: cmd.energy, timestamp: cmd.at, isHistorical: true },
      ],
    });
  },
  unknown_alias: (cmd) => {
    client.publishDeviceData(deviceId, {
      timestamp: cmd.ts,
      metrics: [{ alias: 99, type: "Double", value: 1 }],
    });
  },
  gap: () => {
    client.seq += 1; // a message that never arrives: the next seq skips one
  },
  seq: () => {},
  ddeath: (cmd) => client.publishDeviceDeath(deviceId, { timestamp: cmd.ts }),
  stop: () => {
    client.stop();
    setTimeout(() => process.exit(0), 200);
  },
  kill: () => process.exit(3), // no DISCONNECT: the broker publishes the will (NDEATH)
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  ops[cmd.op](cmd);
  say({ event: "ok", op: cmd.op, seq: client.seq });
});
