"""facelm's ROS 2 nodes: text, audio and FLAME in, 25 fps FLAME frames out.

One module a node (``facelm/ros/<exec>.py`` with ``main(args=None)``), all
lifecycle nodes that configure and activate themselves (parameter ``autostart``).
Pure-Python pieces testable without ROS: ``flame`` (the /face/flame layout and
limits), ``jitter_buffer``, ``idle_life``, ``arkit_map``, ``joint_map``.
Topic names and types: ARCHITECTURE.md; the node table: README "ROS 2 nodes".
"""

EXECUTABLES = ("text_to_motion", "audio_to_motion", "microphone", "wav_publisher", "motion_encoder",
               "motion_player", "motion_to_text", "arkit_bridge", "robot_joints_bridge")
