"""Training and races in a child process: typed commands in, plain-value events out, and the
loop control that runs other threads' requests between two steps."""
