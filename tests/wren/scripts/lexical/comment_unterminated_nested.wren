System.print("never printed")
/* outer /* inner */ the outer one stays open // expect error