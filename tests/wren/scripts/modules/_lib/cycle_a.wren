System.print("cycle_a start")
import "./cycle_b"
System.print("cycle_a end")
