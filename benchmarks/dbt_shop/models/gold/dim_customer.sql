-- shop.gold.dim_customer: the type 2 snapshot of silver.customers as its first
-- build makes it. Each silver row opens a version at its updated_at; a version closes when
-- the customer's next one opens (silver keeps one row per customer, so all are current).
with versions as (
    select
        md5(coalesce(cast(customer_id as varchar), '\N')) as customer_key,  -- surrogate_key(customer_id)
        customer_id,
        first_name,
        last_name,
        email,
        phone,
        country,
        signup_date,
        updated_at,
        updated_at as valid_from,
        lead(updated_at) over (partition by customer_id order by updated_at) as valid_to
    from {{ source('silver', 'customers') }}
)

select
    customer_key,
    customer_id,
    first_name,
    last_name,
    email,
    phone,
    country,
    signup_date,
    updated_at,
    md5(concat_ws('|', coalesce(cast(customer_id as varchar), ''),
                  coalesce(strftime(valid_from, '%Y-%m-%d %H:%M:%S.%f'), ''))) as scd_id,
    valid_from,
    valid_to,
    valid_to is null as is_current
from versions
