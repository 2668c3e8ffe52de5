class MyList is List {} // expect runtime error: Class 'MyList' cannot inherit from built-in class 'List'.
