class F is Fn {} // expect runtime error: Class 'F' cannot inherit from built-in class 'Fn'.
