"""VTube Studio's public plugin API (apiName "VTubeStudioPublicAPI", apiVersion "1.0"),
spoken for our avatars so Stream Deck plugins, chat bots and scripts made for VTube Studio
drive Digigami unchanged (docs/CONTROL.md, "VTube Studio API").

    protocol.py  the message envelope, its checks and the protocol's error ids
    avatar.py    what a live session looks like through the API: model, hotkeys,
                 expressions, input and Live2D parameters
    plugins.py   the plugins: token requests the streamer approves on the puppet page,
                 authentication, one connection's requests, events

No web framework here: webapi/vts.py carries the messages over a WebSocket, and
webapi/vts_tokens.py keeps approved plugins in the store.
"""
