var Summary = [1, 2, 3].map {|x| x * 2 }.toList.toString + " " + {"k": 1}.count.toString + " " + (1..3).toString
