"""ament_python package ``facelm``: the runtime library, ROS 2 nodes and the ``facelm`` CLI.

Installs with pip (``pip install -e .``, what ``make`` does) or with colcon on a
system ROS 2. Only the runtime (``facelm``) is packaged; ``models/``, ``training/``
and ``export/`` run from a checkout.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "facelm"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["facelm", "facelm.*"]),
    package_data={"facelm": ["*.xml", "data/*", "render/*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.yaml")),
        ("share/" + PACKAGE + "/launch/params", glob("launch/params/*.yaml")),
    ],
    install_requires=["numpy", "onnxruntime", "pyyaml", "pillow", "imageio", "scipy", "psutil", "mcap",
                      "mcap-ros2-support"],
    zip_safe=False,
    python_requires=">=3.10",
    description="Facial motion as a language: tokens, text, audio and ROS 2 faces at 25 fps.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "facelm = facelm.cli:main",
            # ROS 2 nodes (`ros2 run facelm NAME` or `python -m facelm.ros.NAME`)
            *[f"{name} = facelm.ros.{name}:main" for name in (
                "text_to_motion", "audio_to_motion", "microphone", "wav_publisher", "motion_encoder",
                "motion_player", "motion_to_text", "arkit_bridge", "robot_joints_bridge")],
        ],
    },
)
