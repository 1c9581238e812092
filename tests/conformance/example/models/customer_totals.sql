{{ config(materialized='table') }}

select
    c.id as customer_id,
    c.name,
    c.country_code,
    k.name as country_name,
    count(o.order_id) as order_count,
    coalesce(sum(o.amount), 0) as total_amount,
    coalesce(sum(oc.amount_cents), 0) as total_cents
from {{ source('shop', 'customers') }} as c
left join {{ ref('stg_orders') }} as o on o.customer_id = c.id
left join {{ ref('orders_cents') }} as oc on oc.order_id = o.order_id
left join {{ ref('countries') }} as k on k.code = c.country_code
group by all
