-- singular test: returns the offending rows
select * from {{ ref('customer_totals') }} where total_amount < 0
