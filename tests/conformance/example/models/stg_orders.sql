-- a view over the raw source
select
    id as order_id,
    customer_id,
    cast(amount as decimal(10, 2)) as amount,
    status,
    ordered_at
from {{ source('shop', 'orders') }}
