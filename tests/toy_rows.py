"""Toy ETD training rows (8 problems x 3 thoughts), shared by the training and CLI tests."""

TOY_ETD_ROWS = [
    {"id": f"toy/train/{i}", "thought": t, "question": f"Ann has {i} apples and gets {i + 2} more. How many now?",
     "completion": c, "answer": 2 * i + 2}
    for i in range(8)
    for t, c in (("cot", f"{i} + {i + 2} = {2 * i + 2}. The answer is {2 * i + 2}."),
                 ("pot", f"apples = {i}\nmore = {i + 2}\nans = apples + more"),
                 ("eot", f"ans = {i} + {i + 2}"))
]
