"""The websocket server (`speechstream serve`), its protocol, browser page and Python client.

Files, one role each: protocol.py (messages, formats, close codes), connection.py (one websocket),
worker.py (the batching worker), tts.py (the /tts websocket: text in, audio out), recognizers.py (a Recognizer per decoding method), routes.py (HTTP:
page, /healthz, origin and token checks), config.py (limits), app.py (the server), client.py (a client),
static/ (the page: index.html, app.js, worklet.js).
"""

from .app import SpeechServer
from .config import ServerConfig

__all__ = ["ServerConfig", "SpeechServer"]
