class Meta is Class {} // expect runtime error: Class 'Meta' cannot inherit from built-in class 'Class'.
