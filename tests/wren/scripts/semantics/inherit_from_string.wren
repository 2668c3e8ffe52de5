class Text is String {} // expect runtime error: Class 'Text' cannot inherit from built-in class 'String'.
