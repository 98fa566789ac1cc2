-- shop.marketing.revenue_by_country: revenue orders by the customer's current country
with current_customers as (
    select customer_key, country from {{ ref('dim_customer') }} where is_current
),

sold as (
    select o.customer_key, o.net_amount, coalesce(c.country, 'unknown') as country
    from {{ ref('fct_orders') }} as o
    left join current_customers as c on o.customer_key = c.customer_key
    where o.is_revenue
)

select
    country,
    count(distinct customer_key) as customers,
    count(*) as orders,
    {{ money('sum(net_amount)') }} as revenue
from sold
group by country
