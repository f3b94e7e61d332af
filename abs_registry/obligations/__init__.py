"""Benefit-sharing obligations: created from an agreement's terms when its permit is issued
(or from a Cali Fund return), followed through payments, evidence, milestone and sales
reports, confirmed or disputed by the beneficiary, moved to due and overdue by a daily job.
"""
