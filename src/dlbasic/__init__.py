"""dlbasic: the basics of deep learning as tested, fast software, and a lab that measures every claim."""

__version__ = "0.1.0"
