// The page: microphone -> AudioWorklet -> websocket (protocol 2: the context's own rate, float32), and the
// server's results -> partial line and final lines. No build step, no dependencies.
"use strict";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
let session = null; // {ws, ctx, stream, node, source}

function setStatus(text) {
  $("status").textContent = text;
  document.body.dataset.status = text;
}

// The block's RMS in dB full scale, on the meter (-60 dB and below read as silence).
function showLevel(block) {
  let sum = 0;
  for (let i = 0; i < block.length; i++) sum += block[i] * block[i];
  const db = Math.max(-60, 10 * Math.log10(sum / Math.max(1, block.length) + 1e-12));
  $("level").value = db;
  $("level").dataset.peak = Math.max(Number($("level").dataset.peak || -60), db);
}

// Which model the server runs, shown before Start.
fetch("/healthz").then((r) => r.json()).then((h) => { $("model").textContent = `model ${h.model}`; }).catch(() => {});

function socketUrl(path = "/") {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (params.get("token")) url.searchParams.set("token", params.get("token"));
  return url.href;
}

function onMessage(event) {
  if (event.data === "Done!") {
    setStatus("done");
    return;
  }
  const msg = JSON.parse(event.data);
  if (msg.config) {
    const c = msg.config;
    $("latency").textContent = `${c.decoding}, look-ahead ${c.lookahead_ms} ms, latency ${c.latency_ms.toFixed(0)} ms`;
  } else if (msg.error) {
    $("error").textContent = `error ${msg.code}: ${msg.error}`;
  } else if ("text" in msg) {
    if (msg.is_final) {
      if (msg.text) {
        const p = document.createElement("p");
        p.textContent = msg.text;
        p.title = `${msg.start.toFixed(2)} - ${msg.end.toFixed(2)} s`;
        $("final").appendChild(p);
      }
      $("partial").textContent = "";
    } else {
      $("partial").textContent = msg.text;
    }
  }
}

async function start() {
  $("toggle").disabled = true;
  $("error").textContent = "";
  $("final").replaceChildren();
  $("partial").textContent = "";
  $("latency").textContent = "";
  setStatus("starting");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    });
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule("worklet.js");
    const ws = new WebSocket(socketUrl());
    ws.binaryType = "arraybuffer";
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("cannot connect to the server"));
    });
    ws.onmessage = onMessage;
    ws.onclose = (e) => {
      if (e.code !== 1000 && e.code !== 1001 && !$("error").textContent) {
        $("error").textContent = `connection closed (${e.code}) ${e.reason}`;
      }
      if (document.body.dataset.status !== "done") setStatus("closed");
      if (session && session.ws === ws) stopCapture();
      if (ctx.state !== "closed") ctx.close().catch(() => {});
    };
    const config = { sample_rate: ctx.sampleRate, format: "f32le" };
    if (params.get("lookahead_ms")) config.lookahead_ms = Number(params.get("lookahead_ms"));
    if (params.get("decoding")) config.decoding = params.get("decoding");
    ws.send(JSON.stringify(config));
    const node = new AudioWorkletNode(ctx, "capture");
    node.port.onmessage = (e) => {
      if (e.data === "flushed") {
        if (ws.readyState === WebSocket.OPEN) ws.send("Done");
        ctx.close().catch(() => {});
      } else if (ws.readyState === WebSocket.OPEN) {
        showLevel(e.data);
        ws.send(e.data.buffer);
      }
    };
    const source = ctx.createMediaStreamSource(stream);
    const mute = ctx.createGain();
    mute.gain.value = 0; // keeps the graph pulling the worklet without playing the microphone back
    source.connect(node).connect(mute).connect(ctx.destination);
    session = { ws, ctx, stream, node, source };
    setStatus("listening");
    $("toggle").textContent = "Stop";
  } catch (err) {
    $("error").textContent = String(err.message || err);
    setStatus("idle");
  } finally {
    $("toggle").disabled = false;
  }
}

function stop() {
  if (!session) return;
  setStatus("finishing");
  session.source.disconnect();
  session.node.port.postMessage("flush"); // the worklet posts its last samples, then "flushed" -> Done
  stopCapture();
}

function stopCapture() {
  if (!session) return;
  session.stream.getTracks().forEach((t) => t.stop()); // the context closes once the worklet has flushed
  session = null;
  $("toggle").textContent = "Start";
  $("level").value = -60;
}

$("toggle").addEventListener("click", () => (session ? stop() : start()));

// The speak box: the text to /tts (voice from ?voice=), the float32 chunks played back to back as they come.
function speak() {
  const text = $("say").value;
  if (!text.trim()) return;
  $("speak").disabled = true;
  $("tts-error").textContent = "";
  const speaking = { ctx: null, next: 0, samples: 0 };
  const ws = new WebSocket(socketUrl("/tts"));
  ws.binaryType = "arraybuffer";
  $("tts").dataset.status = "speaking";
  ws.onopen = () => {
    if (params.get("voice")) ws.send(JSON.stringify({ voice: params.get("voice") }));
    ws.send(text);
    ws.send("Done");
  };
  ws.onmessage = (event) => {
    if (typeof event.data !== "string") {
      const x = new Float32Array(event.data);
      const ctx = speaking.ctx;
      if (!ctx || !x.length) return;
      const buffer = ctx.createBuffer(1, x.length, ctx.sampleRate);
      buffer.copyToChannel(x, 0);
      const node = ctx.createBufferSource();
      node.buffer = buffer;
      node.connect(ctx.destination);
      speaking.next = Math.max(speaking.next, ctx.currentTime + 0.05);
      node.start(speaking.next);
      speaking.next += buffer.duration;
      speaking.samples += x.length;
      $("tts").dataset.samples = speaking.samples;
      return;
    }
    const msg = JSON.parse(event.data);
    if (msg.sample_rate) {
      speaking.ctx = new AudioContext({ sampleRate: msg.sample_rate });
    } else if (msg.error) {
      $("tts-error").textContent = `error ${msg.code}: ${msg.error}`;
    } else if (msg.done) {
      $("tts").dataset.status = "done";
    }
  };
  ws.onclose = (e) => {
    if (e.code !== 1000 && !$("tts-error").textContent) {
      $("tts-error").textContent = `connection closed (${e.code}) ${e.reason}`;
    }
    if ($("tts").dataset.status !== "done") $("tts").dataset.status = "closed";
    $("speak").disabled = false;
  };
}

$("speak").addEventListener("click", speak);
