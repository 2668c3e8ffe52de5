var a = false
!a = true // expect error