"""Few-shot exemplars for the teacher prompts, written for this project.

Each exemplar solves the same problem in all three forms, so a teacher sees how the forms relate.
Two of them carry a distractor number that the solution ignores on purpose: SVAMP-style
problems punish students that use every number in the question.
"""

EXEMPLARS = [
    {
        "question": "A baker made 36 muffins. She sold 5 boxes with 4 muffins in each box and gave 3 muffins "
                    "to a neighbour. How many muffins does she have left?",
        "cot": "She sold 5 boxes of 4 muffins, which is 5 * 4 = 20 muffins. Together with the 3 she gave "
               "away, 20 + 3 = 23 muffins are gone. She has 36 - 23 = 13 muffins left. The answer is 13.",
        "pot": "muffins_made = 36\nboxes_sold = 5\nmuffins_per_box = 4\nmuffins_given = 3\n"
               "muffins_sold = boxes_sold * muffins_per_box\n"
               "ans = muffins_made - muffins_sold - muffins_given",
        "eot": "muffins_made = 36\nmuffins_sold = 5 * 4\nmuffins_given = 3\n"
               "ans + muffins_sold + muffins_given = muffins_made",
    },
    {
        "question": "Tom has 3 times as many marbles as Ana. Together they have 48 marbles. How many marbles "
                    "does Tom have?",
        "cot": "Let Ana's marbles be one share. Tom has 3 shares, so together they have 1 + 3 = 4 shares. "
               "One share is 48 / 4 = 12 marbles. Tom has 3 * 12 = 36 marbles. The answer is 36.",
        "pot": "total_marbles = 48\ntimes_more = 3\nshares = 1 + times_more\n"
               "ana_marbles = total_marbles / shares\nans = times_more * ana_marbles",
        "eot": "tom = 3 * ana\ntom + ana = 48\nans = tom",
    },
    {
        "question": "A school bus has 12 rows of seats and each row seats 4 children. The driver has worked "
                    "for 9 years. If 39 children are on the bus, how many seats are empty?",
        "cot": "The bus has 12 * 4 = 48 seats. The driver's 9 years do not matter here. With 39 children "
               "seated, 48 - 39 = 9 seats are empty. The answer is 9.",
        "pot": "rows = 12\nseats_per_row = 4\nchildren = 39\n# the driver's years of work are not needed\n"
               "total_seats = rows * seats_per_row\nans = total_seats - children",
        "eot": "% the driver's 9 years are not needed\ntotal_seats = 12 * 4\nans + 39 = total_seats",
    },
    {
        "question": "A shirt costs $25 and is on sale for 20% off. Jake buys 2 shirts and a $3 pair of socks "
                    "at full price, and pays with a $60 bill. How much change does he get?",
        "cot": "The discount is 20% of $25, which is 0.2 * 25 = $5, so a shirt costs 25 - 5 = $20. Two "
               "shirts cost 2 * 20 = $40, and with the socks he pays 40 + 3 = $43. His change is "
               "60 - 43 = $17. The answer is 17.",
        "pot": "shirt_price = 25\ndiscount = 20 / 100\nshirts = 2\nsocks = 3\npaid = 60\n"
               "sale_price = shirt_price * (1 - discount)\ncost = shirts * sale_price + socks\n"
               "ans = paid - cost",
        "eot": "sale_price = 25 - 20% * 25\ncost = 2 * sale_price + 3\nans = 60 - cost",
    },
]
