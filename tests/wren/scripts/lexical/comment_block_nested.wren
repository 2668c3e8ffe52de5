/* outer /* inner */ still a comment
System.print("never")
*/
System.print("after") // expect: after
/* /* /* three */ levels */ deep */ System.print("deep") // expect: deep
