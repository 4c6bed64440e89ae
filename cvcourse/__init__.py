"""cvcourse: exact, readable reference code behind the Machine Learning for Computer Vision course.

One subpackage per chapter (``optim``, ``architectures``, ``transformers``, ...) and shared
infrastructure (``runtime``, ``data``, ``train``, ``viz``, ``grading``) that never imports a chapter.
Importing the package has no side effects and imports no chapter.
"""

__version__ = "0.1.0"
