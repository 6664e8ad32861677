"""Benchmarks behind `speechstream bench`: one module per benchmark, each a function that returns JSON-ready
results and a function that renders them as a table.

    asr      speechstream.bench.asr      cache-aware streaming, sherpa-onnx, RTF, ORT vs eager, a one-hour stream
    server   speechstream.bench.server   N real-time websocket clients: delay, lost results, CPU, RSS, vs sherpa-onnx
             (the two servers it starts: speechstream.bench.servers; what to run: speechstream.bench.server_config)
    tts      speechstream.bench.tts      first-packet latency and RTF of the synthesizer, chunked and whole, vs Piper
             and Kokoro (what it times: speechstream.bench.tts_systems; the table: speechstream.bench.tts_table)

Shared helpers (interleaved timing, process memory, test audio, tables) live in speechstream.bench.common.
Nothing here is imported by the runtime; heavy imports (torch, sherpa-onnx) happen inside the functions.
"""
