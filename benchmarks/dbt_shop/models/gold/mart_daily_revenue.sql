-- shop.gold.mart_daily_revenue: every day of dim_date up to run_date
with reported as (
    select * from {{ ref('fct_orders') }} where order_date <= date '{{ var("run_date") }}'
),

daily as (
    select
        date_key,
        count(*) as orders,
        {{ money('sum(net_amount)') }} as revenue,
        cast(sum(items) as bigint) as items,
        count(distinct customer_key) as customers,
        {{ exact_mean_money('net_amount') }} as avg_order_value
    from reported
    where is_revenue
    group by date_key
),

cancelled as (
    select date_key, count(*) as cancelled_orders from reported where not is_revenue group by date_key
)

select
    d.date,
    d.date_key,
    coalesce(s.orders, 0) as orders,
    {{ money('coalesce(s.revenue, 0)') }} as revenue,
    coalesce(s.items, 0) as items,
    coalesce(s.customers, 0) as customers,
    s.avg_order_value,
    coalesce(c.cancelled_orders, 0) as cancelled_orders
from {{ ref('dim_date') }} as d
left join daily as s on d.date_key = s.date_key
left join cancelled as c on d.date_key = c.date_key
where d.date <= date '{{ var("run_date") }}'
