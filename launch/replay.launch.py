"""Regression run on ROS 2: plays a bag with --clock beside the perception and learner nodes.

    ros2 launch adaptive_perception replay.launch.py \\
        bag:=$(ros2 pkg prefix adaptive_perception)/share/adaptive_perception/bags/day_front.mcap

The nodes run on sim time (the bag's /clock), so deadlines and stamps line up with the recording.
Record the results beside it with e.g. `ros2 bag record -s mcap -e '/.*/perception/.*'`.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, TimerAction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration


def generate_launch_description():
    share = get_package_share_directory('adaptive_perception')
    args = [
        DeclareLaunchArgument('bag', default_value=os.path.join(share, 'bags', 'day_front.mcap'),
                              description='Bag to play (MCAP; ROS 1 bags: convert with the CLI first)'),
        DeclareLaunchArgument('rate', default_value='1.0', description='Playback rate (ros2 bag play --rate)'),
        DeclareLaunchArgument('storage', default_value='mcap', description='rosbag2 storage plugin of the bag'),
        DeclareLaunchArgument('cameras', default_value="['/front/image_raw']", description='Camera topics as a YAML list'),
        DeclareLaunchArgument('model', default_value='', description='Model package folder; empty for the bundled default'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'perception.params.yaml'),
                              description='Parameters of the perception node'),
        DeclareLaunchArgument('start_delay', default_value='3.0',
                              description='Seconds to let the nodes configure before the bag starts'),
    ]
    nodes = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'perception.launch.py')),
        launch_arguments={
            'cameras': LaunchConfiguration('cameras'),
            'model': LaunchConfiguration('model'),
            'params_file': LaunchConfiguration('params_file'),
            'use_sim_time': 'true',
        }.items(),
    )
    play = ExecuteProcess(
        cmd=['ros2', 'bag', 'play', LaunchConfiguration('bag'), '--clock',
             '--rate', LaunchConfiguration('rate'), '--storage', LaunchConfiguration('storage')],
        output='screen',
    )
    return LaunchDescription(args + [nodes, TimerAction(period=LaunchConfiguration('start_delay'), actions=[play])])
