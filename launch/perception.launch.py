"""Starts the perception and learner nodes of adaptive_perception.

    ros2 launch adaptive_perception perception.launch.py \\
        cameras:="['/front/image_raw']" model:=/path/to/model params_file:=/path/to.yaml use_sim_time:=false

The nodes are JavaScript (rclnodejs). CMakeLists.txt installs two small shell wrappers,
lib/adaptive_perception/{perception,learner}, that run
`node share/adaptive_perception/bin/adaptive-perception.js ros <role>`; launch_ros's Node
finds them like any C++ or Python executable and appends the usual --ros-args (node name,
namespace, params files, remappings), which rclnodejs.init() reads. An ExecuteProcess of
`node ...` would work too, but would lose that argument handling.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    share = get_package_share_directory('adaptive_perception')
    cameras = LaunchConfiguration('cameras')
    model = LaunchConfiguration('model')
    params_file = LaunchConfiguration('params_file')
    learner_params_file = LaunchConfiguration('learner_params_file')
    use_sim_time = LaunchConfiguration('use_sim_time')
    namespace = LaunchConfiguration('namespace')

    args = [
        DeclareLaunchArgument('cameras', default_value="['/front/image_raw']",
                              description='Camera topics as a YAML list; /CAM/image_raw or /CAM/image_raw/compressed'),
        DeclareLaunchArgument('model', default_value='',
                              description='Model package folder; empty for the bundled default model'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'perception.params.yaml'),
                              description='Parameters of the perception node (ROS 2 params file)'),
        DeclareLaunchArgument('learner_params_file', default_value=os.path.join(share, 'config', 'learner.params.yaml'),
                              description='Parameters of the learner node (ROS 2 params file)'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (true when playing a bag with --clock)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of both nodes; result topics resolve under it'),
    ]

    sim_time = ParameterValue(use_sim_time, value_type=bool)
    # Later entries override earlier ones: the launch arguments win over the params files.
    perception = Node(
        package='adaptive_perception',
        executable='perception',
        name='perception',
        namespace=namespace,
        output='screen',
        parameters=[
            params_file,
            {
                'use_sim_time': sim_time,
                'camera_topics': ParameterValue(cameras, value_type=None),
                'model_path': ParameterValue(model, value_type=str),
            },
        ],
    )
    learner = Node(
        package='adaptive_perception',
        executable='learner',
        name='learner',
        namespace=namespace,
        output='screen',
        parameters=[
            learner_params_file,
            {'use_sim_time': sim_time, 'model_path': ParameterValue(model, value_type=str)},
        ],
    )
    return LaunchDescription(args + [perception, learner])
