var a = [1]
a[] // expect error