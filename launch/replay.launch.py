"""Regression run on ROS 2: plays a bag with /clock beside the perception and learner nodes.

    ros2 launch adaptive_perception replay.launch.py \\
        bag:=$(ros2 pkg prefix adaptive_perception)/share/adaptive_perception/bags/day_front.mcap

The nodes run on sim time (the bag's /clock), so deadlines and stamps line up with the recording.
`player:=builtin` (the default) plays the bag with this package's own player node (MCAP and
ROS 1 bags, no rosbag2 needed); `player:=rosbag2` runs `ros2 bag play --clock` instead.
Record the results beside it with e.g. `ros2 bag record -s mcap -e '/.*/perception/.*'`.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, TimerAction
from launch.conditions import LaunchConfigurationEquals
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory('adaptive_perception')
    args = [
        DeclareLaunchArgument('bag', default_value=os.path.join(share, 'bags', 'day_front.mcap'),
                              description='Bag to play (MCAP; ROS 1 .bag with player:=builtin)'),
        DeclareLaunchArgument('rate', default_value='1.0', description='Playback rate'),
        DeclareLaunchArgument('player', default_value='builtin',
                              description='builtin (this package\'s player node) or rosbag2 (ros2 bag play)'),
        DeclareLaunchArgument('storage', default_value='mcap', description='rosbag2 storage plugin of the bag (player:=rosbag2)'),
        DeclareLaunchArgument('cameras', default_value="['/front/image_raw/compressed']", description='Camera topics as a YAML list'),
        DeclareLaunchArgument('model', default_value='', description='Model package folder; empty for the bundled default'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'perception.params.yaml'),
                              description='Parameters of the perception node'),
        DeclareLaunchArgument('learner_params_file', default_value=os.path.join(share, 'config', 'learner.params.yaml'),
                              description='Parameters of the learner node (e.g. its label topics, or label_source: teacher)'),
        DeclareLaunchArgument('start_delay', default_value='3.0',
                              description='Seconds before the player starts (the built-in one then also waits for the camera subscribers)'),
    ]
    nodes = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'perception.launch.py')),
        launch_arguments={
            'cameras': LaunchConfiguration('cameras'),
            'model': LaunchConfiguration('model'),
            'params_file': LaunchConfiguration('params_file'),
            'learner_params_file': LaunchConfiguration('learner_params_file'),
            'use_sim_time': 'true',
        }.items(),
    )
    builtin = Node(
        package='adaptive_perception',
        executable='player',
        name='bag_player',
        output='screen',
        # Plays once perception subscribes to the cameras (its model loaded), or after 120 s.
        arguments=['--bag', LaunchConfiguration('bag'), '--rate', LaunchConfiguration('rate'), '--clock', '--wait-for-cameras', '120'],
        condition=LaunchConfigurationEquals('player', 'builtin'),
    )
    rosbag2 = ExecuteProcess(
        cmd=['ros2', 'bag', 'play', LaunchConfiguration('bag'), '--clock',
             '--rate', LaunchConfiguration('rate'), '--storage', LaunchConfiguration('storage')],
        output='screen',
        condition=LaunchConfigurationEquals('player', 'rosbag2'),
    )
    return LaunchDescription(args + [nodes, TimerAction(period=LaunchConfiguration('start_delay'), actions=[builtin, rosbag2])])
