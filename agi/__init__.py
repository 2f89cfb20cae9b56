"""Asterisk's wire: the FastAGI protocol and server, and the AMI client."""
